"""Onboarding sequencers: the provision_lake job and the sensor that runs it on config change."""
