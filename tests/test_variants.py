"""The GRPO variants next to the paper presets (zero_dapo, zero_drgrpo, zero_gspo): each inherits `zero` and changes
only what the variant is, composes the way verl's entry point composes it, validates, and the combinations that
cannot work fail at start-up naming the keys. (Two CPU training steps of each: tests/test_cpu_variants.py.)"""

from __future__ import annotations

import json

import pytest
from _cli import run
from omegaconf import OmegaConf

from r1_recipe.tools.recipes import available, compose
from r1_recipe.verl.recipe_check import PPO, validate

A = "actor_rollout_ref.actor."
# what each variant sets on top of `zero` (unresolved values: interpolations stay as written)
CHANGES = {
    "zero_dapo": {A + "loss_agg_mode": "token-mean", A + "clip_ratio_high": 0.28, A + "use_kl_loss": False,
                  A + "kl_loss_coef": 0.0, "algorithm.r1.ref_reset_steps": None,
                  "algorithm.filter_groups.enable": True, "algorithm.filter_groups.metric": "acc",
                  "algorithm.filter_groups.max_num_gen_batches": 10,
                  "reward.reward_kwargs.max_resp_len": "${data.max_response_length}",
                  "reward.reward_kwargs.overlong_buffer_cfg.enable": True,
                  "reward.reward_kwargs.overlong_buffer_cfg.len": 1638,
                  "reward.reward_kwargs.overlong_buffer_cfg.penalty_factor": 1.0,
                  "reward.reward_kwargs.overlong_buffer_cfg.log": True, "trainer.experiment_name": "zero_dapo"},
    "zero_drgrpo": {A + "loss_agg_mode": "seq-mean-token-sum-norm",
                    A + "loss_scale_factor": "${data.max_response_length}", "algorithm.norm_adv_by_std_in_grpo": False,
                    "trainer.experiment_name": "zero_drgrpo"},
    "zero_gspo": {A + "policy_loss.loss_mode": "gspo", A + "clip_ratio_low": 3e-4, A + "clip_ratio_high": 4e-4,
                  "trainer.experiment_name": "zero_gspo"},
}
SOURCES = {"zero_dapo": "arXiv 2503.14476", "zero_drgrpo": "arXiv 2503.20783", "zero_gspo": "arXiv 2507.18071"}


def flat(cfg) -> dict:
    out = {}

    def walk(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                out[f"{prefix}{key}"] = value

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    return out


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    import pandas as pd

    d = tmp_path_factory.mktemp("variants")
    (d / "model").mkdir()
    (d / "model" / "config.json").write_text(json.dumps({"max_position_embeddings": 32768}))
    (d / "model" / "model.safetensors").write_bytes(b"")
    rows = lambda n: pd.DataFrame({"prompt": [[{"role": "user", "content": f"q{i}"}] for i in range(n)],  # noqa: E731
                                   "data_source": ["x"] * n,
                                   "reward_model": [{"style": "rule", "ground_truth": str(i)} for i in range(n)]})
    rows(6000).to_parquet(d / "train.parquet")
    rows(1000).to_parquet(d / "mid.parquet")
    rows(10).to_parquet(d / "val.parquet")
    return d


def args(d, train="train.parquet") -> list[str]:
    return [f"actor_rollout_ref.model.path={d / 'model'}", f"data.train_files={d / train}",
            f"data.val_files={d / 'val.parquet'}"]


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_variant_changes_only_what_the_variant_is(name, d):
    zero, variant = flat(compose("zero", args(d))[0]), flat(compose(name, args(d))[0])
    changed = {k: v for k, v in variant.items() if k not in zero or zero[k] != v}
    assert changed == CHANGES[name]


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_variant_header_cites_its_source_and_every_value_it_sets(name):
    text = available()[name].read_text()
    header = text.split("\ndefaults:")[0]
    assert SOURCES[name] in text.splitlines()[0]
    for key in CHANGES[name]:
        if key != "trainer.experiment_name":
            assert key.rsplit(".", 1)[-1] in header, key


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_variant_validates_with_dry_run(capsys, name, d):
    rc, out, err = run(capsys, "run", name, *args(d), "--dry-run")
    assert rc == 0, err
    assert out.splitlines()[-1].endswith(f"-m verl.trainer.main_ppo --config-path pkg://r1_recipe.recipes "
                                         f"--config-name {name} " + " ".join(args(d)))


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_verl_config_path_pkg_composes_the_variant(name):
    # what `python -m verl.trainer.main_ppo --config-path pkg://r1_recipe.recipes --config-name NAME` composes
    import verl  # noqa: F401  (the plugin: r1_template resolver, the recipes' search path)
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module="r1_recipe.recipes", version_base=None):
        cfg = hydra_compose(config_name=name)
    for key, value in CHANGES[name].items():
        assert OmegaConf.select(cfg, key) == (OmegaConf.select(cfg, "data.max_response_length")
                                              if str(value).startswith("${") else value), key
    assert cfg.algorithm.adv_estimator == "r1_grpo" and cfg.actor_rollout_ref.rollout.n == 16  # zero's


def test_a_copied_variant_still_finds_zero(capsys, tmp_path, d):
    rc, _, _ = run(capsys, "cp", "zero_dapo", str(tmp_path))
    assert rc == 0
    rc, out, err = run(capsys, "run", str(tmp_path / "zero_dapo.yaml"), *args(d), "--dry-run")
    assert rc == 0, err
    assert "max_num_gen_batches: 10" in out and "kl_loss_type: low_var_kl" in out


def errors_of(name, d, *overrides, train="train.parquet"):
    report = validate(compose(name, [*args(d, train), *overrides])[0], PPO, check_gpus=False)
    return report.errors, report.warnings


NO_REFERENCE = ("algorithm.r1.ref_reset_steps=400 but this run has no reference model "
                "(actor_rollout_ref.actor.use_kl_loss and algorithm.use_kl_in_reward are both false)")
FG = "algorithm.filter_groups"
RM = ("reward.reward_model.enable=true", "+reward.r1.reward_model={weight:1.0}",
      "reward.custom_reward_function.path=pkg://r1_recipe.rewards", "reward.reward_model.rollout.name=vllm")
OB = "reward.reward_kwargs.overlong_buffer_cfg"
# (recipe, overrides, the start-up errors, each naming the keys)
CANNOT_WORK = {
    "reset without a KL term": ("zero", ["actor_rollout_ref.actor.use_kl_loss=false"], [NO_REFERENCE]),
    "reset added to DAPO": ("zero_dapo", ["algorithm.r1.ref_reset_steps=400"], [NO_REFERENCE]),
    "one response per group": ("zero_dapo", ["actor_rollout_ref.rollout.n=1"], [
        f"{FG}.enable=true with actor_rollout_ref.rollout.n=1: a group of one response is never filtered (dynamic "
        "sampling needs n >= 2)"]),
    "a metric that is text": ("zero_dapo", [f"{FG}.metric=pred"], [
        f"{FG}.metric='pred' is not a number the r1 reward manager returns; one of: reward, acc, accuracy, format, "
        "infra_failure, language_mixed, overlong, overlong_reward, reflection_words, response_truncated, score "
        "(verl would stop at the first finished group)"]),
    "a metric that never varies": ("zero_dapo", [f"{FG}.metric=infra_failure"], [
        f"{FG}.metric='infra_failure' is 0 for every response of a healthy run: every group would be filtered and no "
        "batch could be filled"]),
    "no batch in flight": ("zero_dapo", [f"{FG}.max_inflight_gen_batches=0"], [
        f"{FG}.max_inflight_gen_batches must be a positive integer, got 0 (verl's replay buffer refuses it after Ray "
        "start-up)"]),
    "a colocated reward model": ("zero_dapo", list(RM), [
        f"{FG}.enable=true with reward.reward_model.enable=true needs reward.reward_model.enable_resource_pool=true: "
        "a colocated reward model scores only after the replay buffer has sampled (verl asserts this after Ray "
        "start-up)"]),
    "the legacy trainer": ("zero_dapo", ["trainer.use_v1=false"], [
        f"{FG}.enable=true with trainer.use_v1=false: verl 0.9.1's legacy trainer ignores {FG} (only the v1 replay "
        "buffer filters groups)"]),
    "a buffer longer than the limit": ("zero_dapo", [f"{OB}.len=9000"], [
        f"{OB}.len=9000 > reward.reward_kwargs.max_resp_len=8192: the buffer must fit inside the length limit"]),
    "a limit beyond the responses": ("zero_dapo", ["reward.reward_kwargs.max_resp_len=16384"], [
        "reward.reward_kwargs.max_resp_len=16384 > data.max_response_length=8192: responses stop before the penalty "
        "reaches its full size"]),
    "an empty buffer": ("zero_dapo", [f"{OB}.len=0"], [
        f"{OB}.len must be a positive number of tokens when {OB}.enable=true, got 0"]),
}


@pytest.mark.parametrize("case", sorted(CANNOT_WORK))
def test_combinations_that_cannot_work_fail_at_start_up_naming_the_keys(case, d):
    name, overrides, expected = CANNOT_WORK[case]
    assert errors_of(name, d, *overrides)[0] == expected


def test_unbounded_or_wrapping_dynamic_sampling_warns(d):
    errors, warnings = errors_of("zero_dapo", d, f"{FG}.max_num_gen_batches=0")
    assert errors == [] and (f"{FG}.max_num_gen_batches=0: no bound on refills; a data set the model always solves "
                             "or always fails makes a step generate forever (DAPO's recipe: 10)") in warnings
    errors, warnings = errors_of("zero_dapo", d, train="mid.parquet")
    assert errors == [] and [w for w in warnings if "filter_groups" in w] == [
        f"{FG}: a step draws up to {FG}.max_num_gen_batches=10 x data.train_batch_size=512 = 5120 prompts, more than "
        "the 1000 in data.train_files: a step may draw a prompt twice (one it has already filtered, or one already "
        "in its batch)"]
    _, warnings = errors_of("zero_dapo", d)  # 6000 prompts: a step never wraps around
    assert [w for w in warnings if "filter_groups" in w] == []


def test_dr_grpo_without_a_constant_normaliser_warns(d):
    errors, warnings = errors_of("zero_drgrpo", d, "actor_rollout_ref.actor.loss_scale_factor=null")
    assert errors == [] and warnings == [
        "actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum-norm with actor_rollout_ref.actor.loss_scale_factor"
        "=null divides by each micro-batch's padded length, not a constant (Dr. GRPO); set "
        "loss_scale_factor=${data.max_response_length}"]


# ------------------------------------------------------------------------------ the bound on dynamic sampling
class FakeBuffer:
    """verl's sync ReplayBuffer as the trainer sees it: `sample` refills through `refill_fn` until enough groups."""

    def __init__(self, refills):
        self.filter_groups_metric, self.refills, self.drawn = "acc", list(refills), []
        self.refill_fn = self.drawn.append

    def sample(self, global_steps, partition_id, batch_size):
        for n in self.refills:
            self.refill_fn(n)
        return "batch", {}


def test_a_step_stops_after_max_num_gen_batches_batches_of_prompts():
    from r1_recipe.verl.dynamic_sampling import DynamicSamplingExhausted, bound_sample

    ok = bound_sample(FakeBuffer([4, 4, 8]), max_prompts=3 * 8, batch=8, max_batches=3, metric="acc")
    assert ok.sample(1, "train", 8) == ("batch", {}) and ok.drawn == [4, 4, 8]  # 8 + 16 = 24 prompts: allowed
    assert ok.sample(1, "val", 8) == ("batch", {})  # validation is never filtered nor bounded
    over = bound_sample(FakeBuffer([8, 8, 2]), max_prompts=3 * 8, batch=8, max_batches=3, metric="acc")
    with pytest.raises(DynamicSamplingExhausted, match=r"step 7: dynamic sampling drew 24 prompts \("
                       r"algorithm.filter_groups.max_num_gen_batches=3 x data.train_batch_size=8 = 24 at most\)"):
        over.sample(7, "train", 8)
    assert over.drawn == [8, 8] and over.refill_fn == over.drawn.append  # the trainer's refill_fn is restored


def hooked_trainer(buffer_name: str):
    """A fake verl trainer module patched by the dynamic-sampling hook, whose trainer builds a buffer of that class
    name."""
    from types import SimpleNamespace

    from r1_recipe.verl import dynamic_sampling

    buffer = type(buffer_name, (FakeBuffer,), {})

    class PPOTrainer:
        def _build_replay_buffer(self):
            return buffer([])

    dynamic_sampling.patch_trainer_module(SimpleNamespace(PPOTrainer=PPOTrainer, __name__="fake"))
    return PPOTrainer()


def test_the_trainer_hook_bounds_only_the_sync_buffer_with_a_positive_bound(d):
    trainer = hooked_trainer("ReplayBuffer")
    trainer.config = compose("zero_dapo", args(d))[0]
    assert trainer._build_replay_buffer().sample.__name__ == "guarded"
    trainer.config = compose("zero_dapo", [*args(d), "algorithm.filter_groups.max_num_gen_batches=0"])[0]
    assert trainer._build_replay_buffer().sample.__name__ == "sample"


def test_the_bound_covers_the_cpu_quick_poll_buffer_too(d):
    """`--cpu` runs select r1-recipe's QuickPollReplayBuffer (a subclass of verl's sync buffer, shorter poll): its
    refills are bounded like verl's, and start-up does not warn that the bound is off."""
    from r1_recipe.verl.cpu import sampler

    trainer = hooked_trainer(sampler.NAME)
    trainer.config = compose("zero_dapo", args(d))[0]
    assert trainer._build_replay_buffer().sample.__name__ == "guarded"
    quick = ["trainer.v1.sampler.custom_sampler.path=pkg://r1_recipe.verl.cpu.sampler",
             f"trainer.v1.sampler.custom_sampler.name={sampler.NAME}"]
    errors, warnings = errors_of("zero_dapo", d, *quick)
    assert errors == [] and not [w for w in warnings if "custom_sampler" in w]
    errors, warnings = errors_of("zero_dapo", d, "trainer.v1.sampler.custom_sampler.path=pkg://mine.sampler",
                                 "trainer.v1.sampler.custom_sampler.name=Mine")
    assert [w for w in warnings if "custom_sampler is set" in w]
