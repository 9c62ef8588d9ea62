"""Data sources: the synthetic task family, arrays from files (scikit-learn's digits, a user's npz) and the image
transforms of the shift axis. `dataset.load(config)` picks one; nothing here imports the train, run or report
layers."""
