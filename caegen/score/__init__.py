"""Anomaly maps, image scores, normal-only thresholds, AUROC/AUPRC/F1-max/pixel AUROC/AUPRO."""
