"""R1 in miniature: the DeepSeek-R1 pipeline (cold-start SFT -> GRPO with rule rewards -> pass@1/cons@k evaluation ->
report) on a toy addition task, with a tiny Qwen2 model and a tokenizer built locally. Runs on a CPU in minutes.

Entry points: `r1-recipe mini` (cli.py), `run(MiniConfig(...))` (pipeline.py).
"""
