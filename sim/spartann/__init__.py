"""SparTANN: golden models (CSC format, jobs, core, DTS, float64 conv), the conv-layer driver,
the cycle model and the cocotb testbenches (docs/spartann/index.md)."""
