"""Training and distillation: the one training loop, checkpoints, losses, scores, any teacher behind one interface, and
the transfer set with its cached teacher logits."""
