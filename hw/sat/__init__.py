"""Engines of the SAT sparse-training accelerator (CEST paper): the OSRE top-K sorters."""
