"""Assignment 2: generating handwriting with the Graves (2013) prediction and synthesis
networks, trained on embedded Hershey-font pen data or on IAM-OnDB."""
