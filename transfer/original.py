"""The original study's published tables, as data (its numbers, quoted; not targets)."""

# Experiment 1: accuracy by target data size.
STRATEGIES = {  # size: (feature extraction, fine-tuning, from scratch)
    50: (1.00, 1.00, 1.00),
    100: (0.95, 1.00, 1.00),
    500: (0.99, 1.00, 1.00),
    1000: (1.00, 1.00, 1.00),
}

# Experiment 2: fine-tuning accuracy by feature-LR multiplier (target size not stated).
LR_MULTIPLIER = {0.01: 0.19, 0.1: 0.20, 0.5: 0.20, 1.0: 0.22}

# Experiment 3: domain shift -> (transfer acc, scratch acc, transfer gain).
DOMAIN_SHIFT = {
    0.0: (0.20, 0.20, +0.00),
    0.5: (0.26, 0.21, +0.05),
    1.0: (0.23, 0.20, +0.03),
    2.0: (0.20, 0.20, +0.00),
    3.0: (0.20, 0.20, +0.00),
}
