"""Tools around training: the r1-recipe CLI, data preparation, rejection sampling, evaluation, reports, mini.
"""
