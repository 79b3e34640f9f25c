"""Playing blackjack: DQN agent for Gymnasium Blackjack-v1, scored exactly by dynamic programming.

Assignment 4: a Lightning DQN judged by the exact expected return of its policy, computed by
dynamic programming (`blackjack.rules`).
"""
