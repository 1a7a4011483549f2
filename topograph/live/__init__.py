"""The live back end: `topograph apply / destroy / status / verify / exec`, executing the plan with netlink.

kernel (namespaces by system call) → netlink (packed rtnetlink requests and dumps) → execute (the
plan's operations, journalled, rolled back on failure) ← converge (live state vs plan, from observe)
← engine (lock, ownership record, apply / destroy / status; root: real mode's share of the root
namespace, put back on destroy) ← the CLI commands.
"""
