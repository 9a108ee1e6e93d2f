"""potstill.methods"""
