"""ernie-gram-distill: fine-tune ERNIE-Gram, distil it into a Bi-LSTM, export and serve the student."""
