"""The installed commands, ernie-distill-predict and ernie-distill-serve; predict.py and serve.py in a checkout run the
same code. Each module's `run()` is its console entry point: main() with the CLI's error and Ctrl-C handling."""
