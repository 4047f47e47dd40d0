"""The two models: the transformer teacher (PaddleNLP encoders, random-init ones for offline runs) and the Bi-LSTM
student with the inputs it reads from raw text (vocabularies, segmenters, the bag of n-grams)."""
