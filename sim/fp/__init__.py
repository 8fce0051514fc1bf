"""FP library: golden models, vectors and testbenches."""
