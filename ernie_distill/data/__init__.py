"""Reading the labelled data (tasks, TSV layouts, PaddleNLP's download), Tang et al.'s augmentation, and batches of
similar length."""
