import PruneKit
print("bench placeholder")
