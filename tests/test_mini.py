"""The miniature R1 run (r1_recipe.tools.mini): toy data, recipe mapping, and the short end-to-end configuration (its
pass@1/cons@k come from r1_recipe.tools.passk, tested in test_passk.py)."""

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from r1_recipe.tools.mini import data
from r1_recipe.tools.mini.pipeline import MiniConfig


def test_toy_traces_are_in_r1_format():
    from r1_recipe.core.rewards.format import check_format

    assert data.prompt(3, 4).endswith("User: Compute 3 + 4. Assistant:")
    careful, hasty = data.completion(3, 4), data.hasty_completion(8)
    assert careful == " <think> 3 + 4 = 7 . check : 7 - 4 = 3 . </think> <answer> \\boxed{7} </answer>"
    assert hasty == " <think> guess 8 . </think> <answer> \\boxed{8} </answer>"
    assert check_format(careful) == "" and check_format(hasty) == ""
    assert data.CHECK in careful and data.CHECK not in hasty
    assert len(data.problems(10)) == 100


def _answer(completion: str) -> int:
    return int(completion.split("\\boxed{")[1].split("}")[0])


def test_cold_start_set_covers_every_problem_and_injects_the_asked_imperfection():
    train = data.problems(10)
    careful = data.sft_samples(train, 200, seed=0, hasty=0.0)
    assert Counter(p for p, _ in careful) == {data.prompt(a, b): 2 for a, b in train}
    by_prompt = {data.prompt(a, b): (a, b) for a, b in train}
    assert all(c == data.completion(*by_prompt[p]) for p, c in careful)
    right = {data.prompt(a, b): a + b for a, b in train}
    hasty_right = data.sft_samples(train, 200, seed=0, hasty=1.0, slip=0.0)
    assert all(data.CHECK not in c and _answer(c) == right[p] for p, c in hasty_right)
    slipped = data.sft_samples(train, 200, seed=0, hasty=1.0, slip=1.0)
    assert all(abs(_answer(c) - right[p]) == 1 for p, c in slipped)
    mixed = data.sft_samples(train, 2000, seed=0, hasty=0.5, slip=0.5)
    n_hasty = sum(data.CHECK not in c for _, c in mixed)
    n_wrong = sum(_answer(c) != right[p] for p, c in mixed)
    assert 900 <= n_hasty <= 1100 and 400 <= n_wrong <= 600   # binomial(2000, .5) and (2000, .25): > 4 sigma


def test_bad_sizes_fail_naming_the_flag():
    with pytest.raises(ValueError, match="--hasty must be in"):
        MiniConfig(hasty=1.5)
    with pytest.raises(ValueError, match="--group-size must be >= 2"):
        MiniConfig(group_size=1)
    with pytest.raises(ValueError, match="--grpo-lr must be > 0"):
        MiniConfig(grpo_lr=0.0)
    with pytest.raises(ValueError, match="--host must be one of verl, trl, got 'vllm'"):
        MiniConfig(host="vllm")


def test_quick_sets_sizes_that_explicit_flags_still_override(monkeypatch):
    from r1_recipe.tools.cli import main
    from r1_recipe.tools.mini import pipeline

    seen = []

    def fake_run(cfg):
        seen.append(cfg)
        return {"before": {"pass@1": 0.5}, "after": {"pass@1": 0.75}}

    monkeypatch.setattr(pipeline, "run", fake_run)
    assert main(["mini", "--quick", "--grpo-steps", "4", "--host", "verl"]) == 0
    assert main(["mini", "--seed", "3"]) == 0
    assert main(["mini", "--host", "trl"]) == 0
    assert [(c.grpo_steps, c.grpo_lr, c.k, c.host, c.seed) for c in seen] == [(4, 2e-4, 4, "verl", 0),
                                                                              (60, 1e-4, 8, "verl", 3),
                                                                              (60, 1e-4, 8, "trl", 0)]


def test_grpo_values_come_from_the_zero_recipe():
    from r1_recipe.tools.mini.recipe import rl_values, sft_values

    rl = rl_values("zero")
    assert (rl.loss_type, rl.scale_rewards, rl.beta, rl.epsilon, rl.epsilon_high, rl.num_iterations) == (
        "grpo", "group", 0.001, 0.2, 0.2, 1)
    assert (rl.temperature, rl.top_p, rl.eval_temperature, rl.eval_top_p, rl.group_size) == (1.0, 1.0, 0.6, 0.95, 16)
    assert (rl.weight_decay, rl.lr_scheduler_type) == (0.1, "constant")
    assert rl.reward == {"components": {"accuracy": 1.0, "format": 1.0}, "timeout_s": 10}
    sft = sft_values("cold_start_sft")
    assert (sft.lr_scheduler_type, sft.min_lr_ratio, sft.warmup_ratio, sft.weight_decay, sft.clip_grad) == (
        "cosine", 0.1, 0.03, 0.1, 1.0)


def test_recipe_value_trl_cannot_reproduce_fails_naming_the_key_on_the_trl_host_only(tmp_path):
    from r1_recipe.tools.mini.recipe import EvalValues, MiniRecipeError, eval_values, rl_values
    from r1_recipe.tools.recipes import available

    text = available()["zero"].read_text().replace("loss_agg_mode: seq-mean-token-mean",
                                                   "loss_agg_mode: seq-mean-token-sum")
    (tmp_path / "odd.yaml").write_text(text)
    with pytest.raises(MiniRecipeError, match="actor_rollout_ref.actor.loss_agg_mode='seq-mean-token-sum'"):
        rl_values(str(tmp_path / "odd.yaml"))
    # the verl host runs the recipe as written: it reads only the evaluation's sampling and the reward
    assert eval_values(str(tmp_path / "odd.yaml")) == EvalValues(
        eval_temperature=0.6, eval_top_p=0.95, reward={"components": {"accuracy": 1.0, "format": 1.0}, "timeout_s": 10})


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One `r1-recipe mini --quick` run, the README's main command in its short configuration: cold-start SFT -> GRPO
    in verl's main_ppo (the default host) with the zero recipe and r1-recipe's plugin -> evaluation -> report. Every
    end-to-end test of the main command reads this run (about 2-3 minutes on 2 cores)."""
    import torch

    from r1_recipe.tools.cli import main

    if torch.cuda.is_available():
        pytest.skip("the CPU platform is only registered without GPUs")
    where = tmp_path_factory.mktemp("mini_quick")
    with pytest.MonkeyPatch.context() as mp:  # a relative --out, as `bash scripts/mini.sh` gives (outputs/mini)
        mp.chdir(where)
        assert main(["mini", "--quick", "--out", "mini"]) == 0
    out = where / "mini"
    return SimpleNamespace(out=out, metrics=json.loads((out / "metrics.json").read_text()))


@pytest.mark.slow
def test_mini_quick_runs_grpo_in_verl_and_raises_pass_at_1(quick):
    from r1_recipe.tools.mini.cli import QUICK

    m = quick.metrics
    assert m["config"]["host"] == "verl"
    assert [h["step"] for h in m["history"]] == list(range(1, QUICK["grpo_steps"] + 1))
    before, after = m["before"], m["after"]
    # cold-start SFT teaches the R1 format: almost every sampled response is well-formed before any RL
    assert before["format"] > 0.9
    # RL moves the policy toward the careful, verified procedure and raises accuracy (held on every seed measured,
    # docs/miniature.md)
    assert after["check_rate"] > before["check_rate"]
    assert after["pass@1"] > before["pass@1"]


@pytest.mark.slow
def test_mini_quick_curves_and_report_come_from_the_r1_reward_manager(quick):
    m = quick.metrics
    for h in m["history"]:
        # the zero recipe's reward: accuracy + format, weight 1 each, as scored by the r1 reward manager
        assert h["reward"] == pytest.approx(h["rewards/accuracy/mean"] + h["rewards/format/mean"])
        assert h["reward"] == h["r1/reward/score/mean"]
        assert 0 < h["completions/mean_length"] <= 48
        assert 0.0 <= h["r1/groups/all_correct"] <= 1.0 and 0.0 <= h["r1/reflection/rate"] <= 1.0
    for png in ("reward.png", "accuracy.png", "response_length.png"):
        assert (quick.out / png).read_bytes()[:4] == b"\x89PNG"
    report = (quick.out / "report.md").read_text()
    assert "GRPO in verl" in report and "| pass@1 |" in report
    first, last = m["history"][0], m["history"][-1]
    assert f"| r1/reward/acc/mean | {first['r1/reward/acc/mean']:.3f} | {last['r1/reward/acc/mean']:.3f} |" in report


@pytest.mark.slow
def test_mini_quick_evaluates_the_policy_verl_trained(quick):
    from safetensors.torch import load_file

    from r1_recipe.tools.mini.cli import QUICK

    start = load_file(quick.out / "cold_start" / "model.safetensors")
    final = load_file(quick.out / "verl" / "ckpt" / f"global_step_{QUICK['grpo_steps']}" / "actor" / "huggingface" /
                      "model.safetensors")
    assert start.keys() == final.keys()
    assert max((final[k].float() - start[k].float()).abs().max().item() for k in start) > 1e-4
    command = (quick.out / "verl" / "command.txt").read_text()
    assert "-m verl.trainer.main_ppo --config-path pkg://r1_recipe.recipes --config-name zero " in command


@pytest.mark.slow
def test_mini_on_the_trl_host(tmp_path):
    """`--host trl` in a small configuration (a short cold start, two GRPO steps): TRL's GRPOTrainer trains with the
    Composer as its reward and the run writes the same report files."""
    from r1_recipe.tools.cli import main

    out = tmp_path / "mini"
    assert main(["mini", "--host", "trl", "--max-operand", "4", "--sft-samples", "48", "--sft-steps", "40",
                 "--grpo-steps", "2", "--grpo-prompts", "4", "--group-size", "4", "--k", "2", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["host"] == "trl"
    assert [h["step"] for h in m["history"]] == [1, 2]
    for h in m["history"]:
        # TRL sums the recipe's components with their weights (1 each): reward = accuracy + format
        assert h["reward"] == pytest.approx(h["rewards/accuracy/mean"] + h["rewards/format/mean"])
    assert 0.0 <= m["after"]["pass@1"] <= 1.0 and m["after"]["format"] >= 0.0
    for png in ("reward.png", "accuracy.png", "response_length.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "GRPO in trl" in (out / "report.md").read_text()
    assert not (out / "verl").exists()


def test_verl_host_data_renders_the_miniatures_prompt_and_sets_sizes_only(tmp_path, monkeypatch):
    """The RL parquet holds the bare question; the zero recipe's chat template renders exactly the prompt the
    miniature trains and evaluates on. The overrides change sizes and places, never the recipe's algorithm."""
    import pandas as pd

    from r1_recipe.tools.mini import model as mini_model
    from r1_recipe.tools.mini import verl_host
    from r1_recipe.tools.recipes import available
    from r1_recipe.verl.cpu.overrides import PPO, PPO_SPEED

    train = data.problems(3)
    tok = mini_model.build_tokenizer([p + c for p, c in data.sft_samples(train, 20, seed=0)])
    tok.save_pretrained(tmp_path / "tok")
    rows = pd.read_parquet(verl_host.write_parquet(train, tmp_path / "train.parquet"))
    assert len(rows) == 9 and rows.data_source.unique().tolist() == ["mini_add"]
    row = rows.iloc[5]                                               # (1, 2)
    assert list(row.prompt) == [{"role": "user", "content": "Compute 1 + 2"}]
    assert dict(row.reward_model) == {"style": "rule", "ground_truth": "3"}
    assert verl_host.check_prompts("zero", tmp_path / "tok", train) == max(
        len(tok(data.prompt(a, b), add_special_tokens=False).input_ids) for a, b in train)
    chat = available()["zero"].read_text().replace("${r1_template:r1_zero}", "${r1_template:r1_chat}")
    (tmp_path / "chat.yaml").write_text(chat)
    with pytest.raises(verl_host.VerlHostError, match="custom_chat_template renders"):
        verl_host.check_prompts(str(tmp_path / "chat.yaml"), tmp_path / "tok", train)
    monkeypatch.chdir(tmp_path)  # `--out` is relative by default (outputs/mini) and main_ppo runs in --out/verl
    args = verl_host.overrides(MiniConfig(grpo_steps=60), Path("m"), Path("t.parquet"), Path("c"),
                               max_prompt_len=96, n_problems=100)
    # the CPU placement and speed overrides (docs/cpu.md), then sizes and places only: no algorithm key but the
    # reference reset, which a 60-step run never reaches
    assert args[:len(PPO)] == PPO and PPO[-len(PPO_SPEED):] == PPO_SPEED
    assert args[len(PPO):] == [
        f"data.train_files={tmp_path / 't.parquet'}", f"data.val_files={tmp_path / 't.parquet'}",
        "data.train_batch_size=8", "data.max_prompt_length=96", "data.max_response_length=48", "data.seed=0",
        f"actor_rollout_ref.model.path={tmp_path / 'm'}", "actor_rollout_ref.model.enable_gradient_checkpointing=false",
        "actor_rollout_ref.rollout.n=8", "actor_rollout_ref.actor.ppo_mini_batch_size=8",
        "actor_rollout_ref.actor.optim.lr=0.0001",
        # 2 x 8 prompts x G=8 x (96 + 48) tokens: the whole rollout batch in one micro-batch
        "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=18432",
        "actor_rollout_ref.ref.log_prob_max_token_len_per_gpu=18432",
        "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=18432",
        "algorithm.r1.ref_reset_steps=null", "trainer.total_training_steps=60", "trainer.total_epochs=6",
        "trainer.save_freq=60", "actor_rollout_ref.actor.checkpoint.save_contents=[model,hf_model]",
        f"trainer.default_local_dir={tmp_path / 'c'}", "trainer.val_before_train=false", "trainer.test_freq=-1",
        "trainer.logger=[console,file]", "trainer.experiment_name=mini_seed0"]


def test_report_lists_the_r1_metrics_of_the_first_and_last_grpo_step():
    from r1_recipe.tools.mini.pipeline import dynamics_table

    hist = [{"step": 1, "reward": 1.0, "r1/reward/acc/mean": 0.5, "r1/reflection/rate": 0.25},
            {"step": 24, "reward": 2.0, "r1/reward/acc/mean": 0.875, "r1/reflection/rate": 1.0}]
    assert dynamics_table(hist) == ("| training dynamics (verl, `r1/` metrics) | step 1 | step 24 |\n"
                                    "|---|---|---|\n"
                                    "| r1/reflection/rate | 0.250 | 1.000 |\n"
                                    "| r1/reward/acc/mean | 0.500 | 0.875 |\n\n")
    assert dynamics_table([{"step": 1, "reward": 1.0}]) == "" and dynamics_table([]) == ""   # the TRL host's history


def test_verl_file_logger_lines_become_the_reports_history(tmp_path):
    from r1_recipe.tools.mini.verl_host import history

    step = {"r1/reward/score/mean": 1.75, "r1/reward/acc/mean": 0.75, "r1/reward/format/mean": 1.0,
            "r1/response_length/mean": 40.5, "r1/groups/all_correct": 0.25, "actor/kl_loss": 0.01}
    lines = [json.dumps({"step": 1, "data": step}), json.dumps({"step": 1, "data": {"val-core/x": 0.5}}),
             '{"step": 2, "da']                       # verl still writing step 2
    (tmp_path / "m.jsonl").write_text("\n".join(lines))
    assert history(tmp_path / "m.jsonl") == [{
        "step": 1, "r1/groups/all_correct": 0.25, "r1/response_length/mean": 40.5, "r1/reward/acc/mean": 0.75,
        "r1/reward/format/mean": 1.0, "r1/reward/score/mean": 1.75, "reward": 1.75, "rewards/accuracy/mean": 0.75,
        "rewards/format/mean": 1.0, "completions/mean_length": 40.5}]
