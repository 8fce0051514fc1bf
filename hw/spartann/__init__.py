"""SparTANN: sparse-serial, dense-parallel training datapath (docs/spartann/index.md)."""
