"""Assignment 4, playing blackjack: a DQN agent (Lightning) for Gymnasium Blackjack-v1, judged by
the exact expected return of its policy, computed by dynamic programming (`blackjack.rules`)."""
