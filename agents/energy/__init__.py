"""The energy-per-action report behind `neuroq energy`: runs, measurements, metrics, render."""
