"""Distillation start-up checks (R1 §2.4): a student template that strips the reasoning from the SFT target fails
loudly; on-policy distillation refuses a teacher whose tokenizer differs from the student's."""

import pytest
from conftest import build_tiny_tokenizer

from r1_recipe.core.templates import load
from r1_recipe.verl.distill import (
    PROBE_ANSWER,
    PROBE_REASONING,
    DistillCheckError,
    check_distill_config,
    check_student_template,
    check_tokenizers_match,
    loss_masked_text,
    main,
    probe_messages,
)

# DeepSeek-R1-Distill / QwQ style: only the text after </think> of an assistant turn is rendered.
STRIPPING = load("r1_chat").replace(
    "{{ message['content'] }}",
    "{% if message['role'] == 'assistant' %}{{ message['content'].split('</think>')[-1].lstrip() }}"
    "{% else %}{{ message['content'] }}{% endif %}",
)
# A template that keeps the text but renders the assistant turn without the generation prompt's prefix, so verl's
# loss mask (which masks len(generation prompt) tokens of every assistant turn) cuts into the reasoning.
MISALIGNED = "{%- for message in messages -%}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n" \
    "{% endfor -%}{%- if add_generation_prompt -%}<|im_start|>assistant\n<think>\nPROBE reasoning: seven{% endif -%}"


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    path = tmp_path_factory.mktemp("student")
    build_tiny_tokenizer(path, chat_template=load("r1_chat"))
    return str(path)


def test_r1_chat_keeps_reasoning_and_answer_in_the_loss_masked_target(student):
    check_student_template(student)
    from transformers import AutoTokenizer

    target = loss_masked_text(AutoTokenizer.from_pretrained(student), probe_messages())
    assert target == f"{PROBE_REASONING}\n</think>\n\n{PROBE_ANSWER}<|im_end|>\n"


def test_a_template_that_strips_the_reasoning_fails_loudly(student):
    with pytest.raises(DistillCheckError, match=r"strips the reasoning before </think> from assistant turns: SFT "
                                                 r"would train on the final answers only"):
        check_student_template(student, chat_template=STRIPPING, through_verl=False)


def test_a_loss_mask_that_cuts_into_the_reasoning_fails_loudly(student):
    with pytest.raises(DistillCheckError, match=r"MultiTurnSFTDataset loss mask covers .*missing 'PROBE reasoning"):
        check_student_template(student, chat_template=MISALIGNED)


def test_a_student_with_no_chat_template_is_refused(tmp_path):
    build_tiny_tokenizer(tmp_path)
    with pytest.raises(DistillCheckError, match="has no chat template: set the recipe's model.custom_chat_template"):
        check_student_template(str(tmp_path))


def test_on_policy_distillation_needs_one_tokenizer(student, tmp_path):
    check_tokenizers_match(student, student)
    other = build_tiny_tokenizer(tmp_path / "teacher", chat_template=load("r1_chat"))
    other.add_tokens(["<tool_call>"])
    other.save_pretrained(str(tmp_path / "teacher"))
    with pytest.raises(DistillCheckError, match=r"vocabularies differ \(teacher 446 tokens, student 445\); only in "
                                                 r"teacher: \['<tool_call>'\]"):
        check_tokenizers_match(str(tmp_path / "teacher"), student)


def test_config_check_names_the_keys(student, tmp_path):
    teacher = build_tiny_tokenizer(tmp_path / "t")
    teacher.add_tokens(["<extra>"])
    teacher.save_pretrained(str(tmp_path / "t"))
    cfg = {"actor_rollout_ref": {"model": {"path": student}},
           "distillation": {"enabled": True, "teacher_models": {"teacher_model": {"model_path": str(tmp_path / "t")}}}}
    with pytest.raises(DistillCheckError, match=r"distillation.teacher_models.teacher_model.model_path \(.*\) and "
                                                 r"actor_rollout_ref.model.path"):
        check_distill_config(cfg)
    cfg["distillation"]["teacher_models"]["teacher_model"]["model_path"] = student
    assert check_distill_config(cfg) == [
        "tokenizers: distillation.teacher_models.teacher_model.model_path == actor_rollout_ref.model.path"]
    sft = {"model": {"path": student, "custom_chat_template": STRIPPING}}
    with pytest.raises(DistillCheckError, match=r"model.path=.* strips the reasoning"):
        check_distill_config(sft)


def test_command_line_exit_codes(student, tmp_path, capsys):
    assert main(["template", student]) == 0
    assert "keeps the reasoning in the loss-masked target" in capsys.readouterr().out
    (tmp_path / "strip.jinja").write_text(STRIPPING)
    assert main(["template", student, "--chat-template", str(tmp_path / "strip.jinja")]) == 1
    assert "strips the reasoning" in capsys.readouterr().err
    assert main(["tokenizers", student, student]) == 0
