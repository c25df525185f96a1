//go:build poll_opt

package gnetx

// With gnet's poll_opt tag an epoll event's data is a pointer to gnet's poll
// attachment, not the fd: the EPOLL_CTL_MOD that pauses reads would overwrite
// it with the fd, and gnet would then dereference garbage. Refuse to build.
var _ = wsgate_cannot_be_built_with_gnet_poll_opt_tag_because_pausing_reads_rewrites_epoll_data_which_is_a_pointer_there
