"""The hub's settings with the baseline views mounted (bench.urls); used only by the benchmarks."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
