// Hand-made packets for the adversarial network tests, run as root inside a sandbox. Static, so
// it runs in any image. Every packet is a whole Ethernet frame written to an AF_PACKET socket:
// it bypasses the sandbox's own routing, source checks and firewall, as an attacker would.
//
//   attack udp  IFACE DSTMAC SRCIP DSTIP PORT COUNT PAYLOAD  UDP with any (forged) source address
//   attack arp  IFACE CLAIMEDIP COUNT                        unsolicited ARP replies claiming CLAIMEDIP
//   attack listen PORT MS                                    counts UDP datagrams on PORT for MS ms
//   attack unix PATH                                         connects to a unix socket
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  exit(2);
}

static int parse_mac(const char *s, uint8_t mac[6]) {
  return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) == 6 ? 0 : -1;
}

static uint16_t csum(const void *data, size_t len) {
  const uint8_t *p = data;
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += (uint32_t)(p[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons((uint16_t)~sum);
}

/** A raw socket on IFACE; fills in its index and MAC address. */
static int packet_socket(const char *ifname, int *ifindex, uint8_t mac[6]) {
  int fd = socket(AF_PACKET, SOCK_RAW, htons(0x0003));
  if (fd < 0) die("socket(AF_PACKET)");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) die("SIOCGIFINDEX");
  *ifindex = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) die("SIOCGIFHWADDR");
  memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  return fd;
}

static void send_frame(int fd, int ifindex, const uint8_t *frame, size_t len) {
  struct sockaddr_ll to;
  memset(&to, 0, sizeof to);
  to.sll_family = AF_PACKET;
  to.sll_ifindex = ifindex;
  to.sll_halen = 6;
  memcpy(to.sll_addr, frame, 6);
  if (sendto(fd, frame, len, 0, (struct sockaddr *)&to, sizeof to) < 0) die("sendto");
}

static int cmd_udp(char **a) {
  uint8_t dst[6], src[6], f[1514];
  int ifindex;
  if (parse_mac(a[1], dst) < 0) return fprintf(stderr, "bad mac %s\n", a[1]), 2;
  int fd = packet_socket(a[0], &ifindex, src);
  const char *payload = a[6];
  size_t plen = strlen(payload), ulen = 8 + plen, ilen = 20 + ulen;
  memset(f, 0, sizeof f);
  memcpy(f, dst, 6);
  memcpy(f + 6, src, 6);
  f[12] = 0x08, f[13] = 0x00;
  uint8_t *ip = f + 14, *udp = ip + 20;
  ip[0] = 0x45, ip[8] = 64, ip[9] = 17;
  *(uint16_t *)(ip + 2) = htons((uint16_t)ilen);
  if (inet_pton(AF_INET, a[2], ip + 12) != 1 || inet_pton(AF_INET, a[3], ip + 16) != 1) return fprintf(stderr, "bad address\n"), 2;
  *(uint16_t *)(ip + 10) = csum(ip, 20);
  *(uint16_t *)udp = htons(40000);
  *(uint16_t *)(udp + 2) = htons((uint16_t)atoi(a[4]));
  *(uint16_t *)(udp + 4) = htons((uint16_t)ulen); // checksum 0: none, allowed for IPv4
  memcpy(udp + 8, payload, plen);
  int count = atoi(a[5]);
  for (int i = 0; i < count; i++) send_frame(fd, ifindex, f, 14 + ilen);
  printf("sent %d\n", count);
  return 0;
}

static int cmd_arp(char **a) {
  uint8_t src[6], f[42];
  int ifindex;
  int fd = packet_socket(a[0], &ifindex, src);
  memset(f, 0xff, 6);
  memcpy(f + 6, src, 6);
  f[12] = 0x08, f[13] = 0x06;
  uint8_t *arp = f + 14;
  arp[0] = 0, arp[1] = 1, arp[2] = 0x08, arp[3] = 0, arp[4] = 6, arp[5] = 4, arp[6] = 0, arp[7] = 2; // reply
  memcpy(arp + 8, src, 6);
  if (inet_pton(AF_INET, a[1], arp + 14) != 1) return fprintf(stderr, "bad address\n"), 2;
  memset(arp + 18, 0xff, 6);
  memcpy(arp + 24, arp + 14, 4); // gratuitous: target = sender
  int count = atoi(a[2]);
  for (int i = 0; i < count; i++) {
    arp[7] = (i & 1) ? 1 : 2; // alternate gratuitous requests and replies
    send_frame(fd, ifindex, f, sizeof f);
  }
  printf("sent %d\n", count);
  return 0;
}

static int cmd_listen(char **a) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(a[0]))};
  if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) die("bind");
  printf("listening\n");
  fflush(stdout);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long ms = atol(a[1]);
  char buf[2048];
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    long left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
    if (left <= 0) break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)left) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n < 0) continue;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
    buf[n] = 0;
    printf("got %s\n", buf);
    fflush(stdout);
  }
  return 0;
}

static int cmd_unix(char **a) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_un to = {.sun_family = AF_UNIX};
  strncpy(to.sun_path, a[0], sizeof to.sun_path - 1);
  if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
    printf("refused: %s\n", strerror(errno));
    return 1;
  }
  printf("connected\n");
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 9 && !strcmp(argv[1], "udp")) return cmd_udp(argv + 2);
  if (argc >= 5 && !strcmp(argv[1], "arp")) return cmd_arp(argv + 2);
  if (argc >= 4 && !strcmp(argv[1], "listen")) return cmd_listen(argv + 2);
  if (argc >= 3 && !strcmp(argv[1], "unix")) return cmd_unix(argv + 2);
  fprintf(stderr, "usage: see attack.c\n");
  return 2;
}
