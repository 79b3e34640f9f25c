"""Assignment 1, recognizing speech: a BC-ResNet keyword spotter for the 35 Speech Commands words,
trained offline on an embedded eSpeak NG data set (or on Google Speech Commands v2)."""
