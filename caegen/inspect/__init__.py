"""Look inside a trained model: learned filters, and feature maps around each activation."""
