"""Pipelines between verl's entry points: rejection sampling into an SFT set, mixing, distillation checks
(DeepSeek-R1 §2.3.3 and §2.4)."""
