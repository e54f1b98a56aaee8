"""Import before TensorFlow: its C++ start-up chatter is not for caegen users.

An explicit TF_CPP_MIN_LOG_LEVEL in the environment wins.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
