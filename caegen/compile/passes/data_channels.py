"""The data source can give the input's channel count (E034).

Images are converted between gray (1), RGB (3) and RGBA (4) the way image tools do; a
2-channel input can only come from an `npz` array that has 2 channels, and no source has
more than 4. Checked statically, so a spec that cannot train fails `check`, not `train`.
"""

from __future__ import annotations

from caegen.compile.graph import locate
from caegen.core.diagnostics import Diagnostic
from caegen.spec.schema import Spec

CONVERTIBLE = (1, 3, 4)


def check_data_channels(spec: Spec) -> list[Diagnostic]:
    channels = spec.input[2]
    source = spec.data.source
    if channels in CONVERTIBLE or (source == "npz" and channels == 2):
        return []
    allowed = "1, 2 (from a 2-channel array), 3 or 4" if source == "npz" else "1, 3 or 4"
    return [
        Diagnostic(
            "E034",
            f"input has {channels} channels, but data source `{source}` gives {allowed} "
            "(gray, RGB or RGBA)",
            locate(spec.source, ("input", 2)),
            "use 1 (gray), 3 (RGB) or 4 (RGBA) channels"
            + ("" if source == "npz" else ", or an npz source with arrays of that many channels"),
        )
    ]
