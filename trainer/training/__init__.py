"""Training: the recipe's model, the loop, the fused head loss, evaluation, metrics and the model card."""
