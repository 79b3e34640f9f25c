"""Assignment 3, composing music: an LSTM composer over piano rolls (Bach chorales, JSB Chorales,
any MIDI folder), with a baseline of independent keys and an RNN-NADE that models chords."""
