"""pyomo_ecc.simulation"""
