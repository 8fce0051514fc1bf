"""Engines of the SAT sparse-training accelerator (CEST paper)."""
