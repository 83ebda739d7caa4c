"""Reward components used by the tests. Module-level, so bounded pool workers can import them by reference."""

import time

from r1_recipe.rewards import RewardOutput


def sleepy(solution_str, ground_truth, extra_info=None, seconds=30.0, **_):
    time.sleep(seconds)
    return RewardOutput(1.0)


def explode(solution_str, ground_truth, extra_info=None, **_):
    raise RuntimeError("component bug")


def memory_hog(solution_str, ground_truth, extra_info=None, **_):
    blocks = []
    while True:
        blocks.append(bytearray(256 * 1024 * 1024))


def length(solution_str, ground_truth, extra_info=None, scale=1.0, **_):
    return len(solution_str) * scale


def echo_extra(solution_str, ground_truth, extra_info=None, **_):
    return RewardOutput(1.0, pred=f"{extra_info.get('data_source')}|{extra_info.get('prompt')}|{ground_truth}")
