"""pyomo_ecc.analysis"""
