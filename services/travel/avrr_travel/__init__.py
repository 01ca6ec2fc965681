"""AVRR travel: the movement of a household cleared for return.

movement (the Movement aggregate and its events), observed (the other
services' events it reads), destinations (which open movements go where, which
destinations are suspended), consents (withdrawn medical consents), commands,
reactions, read_models, api, main.
"""
