# Denies every statement: the pipeline example's test of a policy failure.
package signature

default allow = false
