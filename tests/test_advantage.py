"""GRPO estimators: hand-computed values, edge cases, and equivalence with verl's own `grpo`."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from r1_recipe.core.advantage import GRPOOptions, outcome_advantage, process_advantage

S3 = (1 / 3) ** 0.5  # unbiased std of [1, 0, 0, 1]


def rewards_at_end(scores, lengths, T):
    """(bs, T) rewards with each score on the last valid token, and the matching response mask."""
    bs = len(scores)
    mask = (torch.arange(T).expand(bs, T) < torch.tensor(lengths).unsqueeze(-1)).float()
    r = torch.zeros(bs, T)
    for i, (s, n) in enumerate(zip(scores, lengths, strict=True)):
        if n:
            r[i, n - 1] = s
    return r, mask


def test_outcome_advantage_matches_hand_computed_values():
    r, mask = rewards_at_end([1, 0, 0, 1, 1, 0], [3, 2, 4, 1, 4, 4], T=4)
    index = np.array(["a", "a", "a", "a", "b", "b"], dtype=object)
    adv, ret = outcome_advantage(r, mask, index)
    a = 0.5 / (S3 + 1e-6)
    b = 0.5 / ((0.5) ** 0.5 + 1e-6)  # group b: [1, 0], unbiased std = sqrt(0.5)
    expected = torch.tensor([[a, a, a, 0], [-a, -a, 0, 0], [-a] * 4, [a, 0, 0, 0], [b] * 4, [-b] * 4])
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-6)
    assert ret is adv


@pytest.mark.parametrize(
    "options,value",
    [
        (GRPOOptions(unbiased_std=False), 0.5 / (0.5 + 1e-6)),  # population std of [1, 0, 0, 1] is 0.5
        (GRPOOptions(norm_by_std=False), 0.5),  # Dr.GRPO: no std normalisation
        (GRPOOptions(epsilon=0.1), 0.5 / (S3 + 0.1)),
    ],
)
def test_outcome_advantage_options(options, value):
    r, mask = rewards_at_end([1, 0, 0, 1], [2, 2, 2, 2], T=2)
    adv, _ = outcome_advantage(r, mask, np.array(["u"] * 4, dtype=object), options)
    torch.testing.assert_close(adv[:, 0], torch.tensor([value, -value, -value, value]), rtol=0, atol=1e-6)


def test_singletons_identical_groups_and_padding_rows():
    # singleton (raw reward, as verl), identical rewards (0), a padding row (uid pad..., all-zero mask)
    r, mask = rewards_at_end([0.7, 1, 1, 1, 0], [3, 2, 2, 2, 0], T=3)
    index = np.array(["solo", "same", "same", "same", "pad3f2a"], dtype=object)
    adv, _ = outcome_advantage(r, mask, index)
    s = 0.7 / (1 + 1e-6)
    expected = torch.tensor([[s, s, s], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-6)


def test_options_are_read_from_the_algorithm_config_and_unknown_keys_fail():
    cfg = OmegaConf.create({"adv_estimator": "r1_grpo", "norm_adv_by_std_in_grpo": False,
                            "r1": {"epsilon": 0.5, "unbiased_std": False}})
    assert GRPOOptions.from_config(cfg) == GRPOOptions(norm_by_std=False, epsilon=0.5, unbiased_std=False)
    assert GRPOOptions.from_config(OmegaConf.create({"adv_estimator": "r1_grpo"})) == GRPOOptions()
    with pytest.raises(ValueError, match=r"algorithm\.r1\.epsilonn"):
        GRPOOptions.from_config(OmegaConf.create({"r1": {"epsilonn": 1e-6}}))
    with pytest.raises(ValueError, match=r"algorithm\.r1\.epsilon must be"):
        GRPOOptions.from_config(OmegaConf.create({"r1": {"epsilon": -1}}))
    # was read as bool("false") = True: the block's one definition (ALGORITHM_R1) checks the type
    with pytest.raises(ValueError, match=r"^algorithm\.r1\.unbiased_std must be true or false, got 'false'$"):
        GRPOOptions.from_config(OmegaConf.create({"r1": {"unbiased_std": "false"}}))


def test_missing_uid_is_a_clear_error():
    r, mask = rewards_at_end([1.0], [1], T=1)
    with pytest.raises(ValueError, match="uid"):
        outcome_advantage(r, mask, None)


def random_batch(seed, bs=96, T=24):
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    lengths = torch.randint(0, T + 1, (bs,), generator=g).tolist()
    scores = (torch.rand(bs, generator=g) * 2 - 0.5).tolist()
    r, mask = rewards_at_end(scores, lengths, T)
    # uneven groups: sizes 1..8, including singletons, uuid-like strings, shuffled order
    uids, i = [], 0
    while len(uids) < bs:
        size = int(rng.integers(1, 9))
        uids += [f"{i:08x}-uid"] * size
        i += 1
    index = np.array(uids[:bs], dtype=object)
    rng.shuffle(index)
    return r, mask, index


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("norm", [True, False])
def test_r1_grpo_equals_verl_grpo_through_verl_registry(seed, norm):
    import verl  # noqa: F401  (loads the plugin)
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    r, mask, index = random_batch(seed)
    ref, _ = get_adv_estimator_fn("grpo")(r, mask, index, norm_adv_by_std_in_grpo=norm)
    ref_vec, _ = get_adv_estimator_fn("grpo_vectorized")(r, mask, index, norm_adv_by_std_in_grpo=norm)
    cfg = OmegaConf.create({"adv_estimator": "r1_grpo", "norm_adv_by_std_in_grpo": norm})
    ours, _ = get_adv_estimator_fn("r1_grpo")(token_level_rewards=r, response_mask=mask, index=index, config=cfg)
    # float32 sums in another order (index_add_ over all groups vs verl's per-group mean/std): 2.4e-7 apart at most
    # here (2 ulps at |A| ~ 2). rtol 1e-5 (~80 ulps) keeps a torch or BLAS change of summation order from failing
    # this, and is still ~1000 times smaller than a real difference (a wrong mean, or the population std for the
    # unbiased one, moves A by > 1e-2; where epsilon goes is checked exactly above)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours, ref_vec, rtol=1e-5, atol=1e-6)


def test_r1_grpo_runs_through_verl_compute_advantage():
    """The trainer's own call path: DataProto + `compute_advantage` with the raw `algorithm` config."""
    import verl  # noqa: F401
    from verl import DataProto
    from verl.trainer.ppo.ray_trainer import compute_advantage

    r, mask, index = random_batch(7, bs=16, T=6)
    data = DataProto.from_dict(tensors={"token_level_rewards": r, "response_mask": mask},
                               non_tensors={"uid": index})
    cfg = OmegaConf.create({"adv_estimator": "r1_grpo", "norm_adv_by_std_in_grpo": True})
    out = compute_advantage(data, adv_estimator="r1_grpo", config=cfg)
    expected, _ = outcome_advantage(r, mask, index)
    torch.testing.assert_close(out.batch["advantages"], expected, rtol=0, atol=0)


def test_process_advantage_sums_normalised_rewards_of_later_steps():
    # Group of two outputs (DeepSeekMath §4.1.3). Output A: steps end at t=1 (reward 1.0) and t=3 (reward 0.0);
    # output B: one step ending at t=2 (reward 0.2). All steps of the group: [1, 0, 0.2]: mean 0.4,
    # unbiased std sqrt(0.28).
    T = 4
    r = torch.tensor([[0, 1.0, 0, 0], [0, 0, 0.2, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.float32)
    steps = torch.tensor([[0, 1, 0, 1], [0, 0, 1, 0]], dtype=torch.bool)
    index = np.array(["q", "q"], dtype=object)
    sd = 0.28**0.5 + 1e-6
    a1, a3, b2 = 0.6 / sd, -0.4 / sd, -0.2 / sd
    expected = torch.tensor([[a1 + a3, a1 + a3, a3, a3], [b2, b2, b2, 0]])
    adv, _ = process_advantage(r, mask, index, steps)
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-5)
    # Without an explicit step mask, steps are the non-zero rewards plus the last valid token: the same steps here.
    adv_default, _ = process_advantage(r, mask, index)
    torch.testing.assert_close(adv_default, expected, rtol=0, atol=1e-5)
    assert adv.shape == (2, T)


def test_process_advantage_with_outcome_reward_only_equals_outcome_grpo():
    """One step per output (the final one) reduces process supervision to outcome supervision."""
    r, mask, index = random_batch(3, bs=40, T=10)
    keep = mask.sum(-1) > 0  # a fully masked row has no step
    r, mask, index = r[keep], mask[keep], index[keep.numpy()]
    torch.testing.assert_close(process_advantage(r, mask, index)[0], outcome_advantage(r, mask, index)[0],
                               rtol=0, atol=1e-5)
