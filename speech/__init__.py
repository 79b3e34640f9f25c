"""Recognizing speech: BC-ResNet keyword spotter: which of the 35 Speech Commands words was said.

Assignment 1, trained offline on an embedded eSpeak NG data set (or on Google Speech Commands v2).
"""
