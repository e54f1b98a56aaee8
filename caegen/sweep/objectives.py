"""What a sweep can optimize: each objective's source and direction."""

# objective -> (where it comes from, direction); static objectives need no training
OBJECTIVES = {
    "psnr": ("metrics", "maximize"),
    "ssim": ("metrics", "maximize"),
    "mse": ("metrics", "minimize"),
    "auroc": ("score", "maximize"),  # image AUROC of `caegen score` (caegen.score.objective)
    "aupro": ("score", "maximize"),
    "params": ("static", "minimize"),
    "macs": ("static", "minimize"),
}
