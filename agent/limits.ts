/**
 * The beancounter profile a new VE gets when the agent config has no `limits:` (vzctl driver).
 * It is saved by the one `vzctl set ... --save` after `vzctl create`, in vzctl's own spelling:
 * sizes with K/M suffixes (vzctl turns them into pages for the *pages resources), counts as
 * plain numbers, `barrier:limit`.
 *
 * Sized for one student running a Rails app with its database: Puma with a few threads, a
 * PostgreSQL or MySQL server, sshd and cron, and now and then `bundle install` compiling native
 * gems. The classic failure was privvmpages: it counts memory *allocated*, not used, and glibc
 * gives each Ruby thread its own 64 MiB malloc arena, so Rails on vps.basic's 256M:272M saw
 * failcnt climb (to 36 in the case that prompted this) before it served one page. The gaps
 * between barrier and limit follow the OpenVZ wiki's rules (tcp buffers: limit − barrier ≥
 * numtcpsock × 2.5 KiB; kmemsize ≥ 40 KiB × numproc + dcachesize). VSwap's physpages and
 * swappages (--ram/--swap) are left to the node's VE config sample: they depend on the box.
 */
export const DEFAULT_LIMITS: Readonly<Record<string, string>> = {
  // Allocated memory: Rails (~300 MiB of arenas and heap) plus the database (~150 MiB).
  privvmpages: '512M:576M',
  // The memory the VE is promised and the OOM killer spares.
  vmguarpages: '256M:unlimited',
  oomguarpages: '256M:unlimited',
  // Shared memory: SysV IPC, shared anonymous mappings and tmpfs (/dev/shm, /run). PostgreSQL's
  // default shared_buffers alone is 128 MiB, and its whole segment (WAL buffers, lock table,
  // per-backend slots) comes to about 145 MiB, so 128M refused the server at start. 256M holds
  // it with room for tmpfs and a larger shared_buffers, and stays below privvmpages' barrier,
  // which must hold the same mapping besides Rails. Barrier = limit: there is nothing to gain
  // from a soft zone, a shared segment is allocated whole at start. mlock is rare.
  shmpages: '256M:256M',
  lockedpages: '2M:2M',
  // Puma workers, database backends, a compiler run during bundle install.
  numproc: '400:400',
  numfile: '16384:16384',
  numflock: '500:550',
  numpty: '32:32',
  numsiginfo: '1024:1024',
  // Kernel memory: 40 KiB per process plus the dentry cache.
  kmemsize: '64M:72M',
  dcachesize: '32M:34M',
  // Web clients plus database connections over TCP, unix sockets to the database.
  numtcpsock: '500:500',
  numothersock: '500:500',
  tcpsndbuf: '4M:6M',
  tcprcvbuf: '4M:6M',
  othersockbuf: '2M:4M',
  dgramrcvbuf: '512K:512K',
  numiptent: '128:128',
};
