"""The framework-free core of the R1 method: GRPO advantages, rule rewards, templates, bounded execution (no verl).
"""
