"""Composing music: LSTM composer (RNN-NADE) over piano rolls, trained on Bach chorales.

Assignment 3: piano rolls of Bach chorales, JSB Chorales or any MIDI folder, with a baseline of
independent keys and an RNN-NADE that models chords.
"""
