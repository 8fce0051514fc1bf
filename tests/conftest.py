import pytest

from sim.runner import simulators


def pytest_generate_tests(metafunc):
    """Tests taking a ``sim`` argument run once per available simulator."""
    if "sim" in metafunc.fixturenames:
        metafunc.parametrize("sim", simulators())
