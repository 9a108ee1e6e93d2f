"""potstill.data"""
