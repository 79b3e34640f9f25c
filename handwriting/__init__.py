"""Generating handwriting: Graves (2013) synthesis network: an LSTM with soft attention writes
text as strokes.

Assignment 2: the prediction and synthesis networks, trained on embedded Hershey-font pen data or
on IAM-OnDB.
"""
