"""potstill.report"""
