// Known-answer tests for fingerprints, randomart and bubblebabble.
//
// The golden values are real outputs of OpenSSH 9.2p1's ssh-keygen (-l, -lv,
// -l -E md5, -lv -E md5, -B) for keys it generated. The two security-key
// entries reuse the Ed25519 and P-256 points with application "ssh:"
// (ssh-keygen cannot make sk keys without an authenticator, but fingerprints
// their public lines); their 16-character titles ("[ED25519-SK 256]") test
// the border's edge.
#include "tessera/key/fingerprint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/key/encoding.h"
#include "tessera/key/key.h"

namespace tessera::key {
namespace {

struct Golden {
  const char* ssh_name;
  const char* base64_blob;
  unsigned bits;
  const char* sha256;
  const char* md5;
  const char* randomart_sha256;
  const char* randomart_md5;
  const char* bubblebabble;
};

// clang-format off
const Golden kGolden[] = {
    {
        "ssh-ed25519",
        "AAAAC3NzaC1lZDI1NTE5AAAAIFThCSMeIoICZeQcpb2Sd6aRU6L/rtOXqVAZ9GpRvXgD",
        256,
        "SHA256:NJccJGE98SpC2LHJmvQ0cZ/asCcBUVy/2DA1xNFWJDw",
        "MD5:d8:aa:d1:8a:7c:09:84:1c:ac:97:72:31:bd:a1:44:47",
        "+--[ED25519 256]--+\n"
        "|      =+*==+=+.oo|\n"
        "|     + O.+oB..E. |\n"
        "|    o O = O.o. . |\n"
        "|   . * o O * .   |\n"
        "|    o o S = o    |\n"
        "|       . +       |\n"
        "|                 |\n"
        "|                 |\n"
        "|                 |\n"
        "+----[SHA256]-----+",
        "+--[ED25519 256]--+\n"
        "|...oE            |\n"
        "| o+.o            |\n"
        "|oo.= o           |\n"
        "|+.* .  o         |\n"
        "| =    . S        |\n"
        "|  .  . .         |\n"
        "|   ...o          |\n"
        "| . .o+           |\n"
        "|  o.o            |\n"
        "+------[MD5]------+",
        "xedeg-rynal-dilev-carac-zucov-meten-ryfoc-kytag-bynaz-gagol-lyxox",
    },
    {
        "ecdsa-sha2-nistp256",
        "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNAx4zqfdZQKItsYZyeQ/H/U"
        "oB4WW7YwWMFvcvT1DsZicWaagjgN/OtFgv0NFe+bBMyi3uGvATkco54H446VnEU=",
        256,
        "SHA256:dOjYsMmyjjFuD8oPIUn9Ij9rjJRfJKQWjydKxpOjg9w",
        "MD5:9a:90:24:1a:ba:95:c2:dc:df:c4:c6:0c:9d:98:87:13",
        "+---[ECDSA 256]---+\n"
        "|                 |\n"
        "| ...     .       |\n"
        "|..B.  . o .      |\n"
        "|.& +.o O .       |\n"
        "|@oB.+.= S        |\n"
        "|*++E.+           |\n"
        "|.oBoo            |\n"
        "|.+oXo            |\n"
        "|.o=+o            |\n"
        "+----[SHA256]-----+",
        "+---[ECDSA 256]---+\n"
        "|     E           |\n"
        "|      * .        |\n"
        "|. . .* +         |\n"
        "|+o.+ .B          |\n"
        "|+oo.o  *S        |\n"
        "| +  ..+o         |\n"
        "|.    .o.         |\n"
        "|                 |\n"
        "|                 |\n"
        "+------[MD5]------+",
        "xomed-bezum-garim-befid-zomuz-kepus-zyrav-mevel-pevyz-vosyc-voxix",
    },
    {
        "ecdsa-sha2-nistp384",
        "AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBEOGlvXN5J4OwvZgpRZd73sV"
        "wy+jK+8TFtM5MOSQW5N5Q7riGzgV2S+2HJ/g3dRi0Xp6u9uRvWYFIGofdfU9k4g9kd6vVw+rIcrs"
        "1J8vNC5DaY+USPoo88i5j7LHqXXCQw==",
        384,
        "SHA256:zwCy++0FQhe3rbJn0Dc4JyYZIT3obZYtq9k7hIjkgnA",
        "MD5:27:70:47:eb:b5:b6:60:81:e0:d4:16:18:f4:ec:df:70",
        "+---[ECDSA 384]---+\n"
        "|      .oo .      |\n"
        "|      ..o+ o     |\n"
        "|    ..o.o+. .    |\n"
        "|. E  +.o*+.o     |\n"
        "|o+ ....+SoB +    |\n"
        "|o o ....o@ = .   |\n"
        "| .  .  =. *      |\n"
        "|     .o.o+       |\n"
        "|      ..+o       |\n"
        "+----[SHA256]-----+",
        "+---[ECDSA 384]---+\n"
        "|     .=+...      |\n"
        "|     o.+oo .     |\n"
        "|      o.= + .    |\n"
        "|       + o o .   |\n"
        "|        S * E    |\n"
        "|         = * .   |\n"
        "|          . o    |\n"
        "|                 |\n"
        "|                 |\n"
        "+------[MD5]------+",
        "xuhiz-safet-lavec-budem-nebik-pesod-saket-bykyb-napav-takoh-moxix",
    },
    {
        "ecdsa-sha2-nistp521",
        "AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAB0+UkfrefpUHEtzIQssoT0"
        "aXIRZ1yehsUDTvIdsg4jbZfrvTLMbF7PDHpOYA+zRSa7f5jKbKPNyfvyKruRC6PBKQEFUDaYK1fi"
        "ZUIzHEcx91MRAbbVP04dosQ9+cMSKcPXKPyl2vCtfvIEN2BX0VYLp4TX8uvLarBM+hMbZstVyRTO"
        "xw==",
        521,
        "SHA256:CYI49PUrjSGWbHCNa4SukXDyvML6OYgCfKPUpQVTZQ0",
        "MD5:61:b0:77:f7:ee:a1:d8:84:4f:b7:40:35:b0:b1:89:7f",
        "+---[ECDSA 521]---+\n"
        "| o..+o.Eo        |\n"
        "|+o**o.o  .       |\n"
        "|=*oB=...         |\n"
        "|oo=o.++...       |\n"
        "|+.o.+o oS        |\n"
        "|++.=  .          |\n"
        "|=oo .            |\n"
        "|=...             |\n"
        "|..o.             |\n"
        "+----[SHA256]-----+",
        "+---[ECDSA 521]---+\n"
        "|      .     o    |\n"
        "|       o   . *   |\n"
        "|      . + o = o  |\n"
        "|       o o o o . |\n"
        "|        S   o E  |\n"
        "|           o o   |\n"
        "|          . + +  |\n"
        "|           * = o |\n"
        "|          . + o  |\n"
        "+------[MD5]------+",
        "xegoc-zubuc-balez-cidag-rykal-relaz-nuvam-bynec-depuv-zomyt-koxux",
    },
    {
        "ssh-rsa",
        "AAAAB3NzaC1yc2EAAAADAQABAAABAQCVXneEQHUJsUnC+NsxiBQJAI0G1k+UV/hmceuKwBqFBuDf"
        "VE4WrjOy6df2xSHSEjwvN9tYLfo88Rvz6as9V/YiBUuQBBXZp8/79Zw7GUf+qtVzTBspub2KrQzd"
        "2TQ4/Pq+0+G+FKMDIwjuQ0vi0cB1JBJ8MpXGoy5Zdjm6dkfrWhEypsNmR0dmAMXPcfJ3iRJJakPK"
        "ig1fbUB3SBc3pEAHDlsleXg28lR/K2nG+WyePVaT6j3jF3FcWwVRTLF2uF3QVqeYocK4hg5ewX0k"
        "KNBTQd9clreJxRN86+6EiEXMfvGXM+RbdwDBSTrCO8pbMFl6fjwNUq3VC46ysaHvFZ7F",
        2048,
        "SHA256:OwF3dId2JbVvxRbI9b9whG6IYuaFWdMB8DVCS52fG4g",
        "MD5:60:f8:9c:76:91:d2:82:ea:73:27:50:3c:ca:79:90:6e",
        "+---[RSA 2048]----+\n"
        "|       .o=+++.==o|\n"
        "|        o.=+=+oo+|\n"
        "|      . .=oooo.o=|\n"
        "|       o+Eo.o+..+|\n"
        "|       *So . +o.+|\n"
        "|      + oo  ..o..|\n"
        "|       .o      . |\n"
        "|         .       |\n"
        "|                 |\n"
        "+----[SHA256]-----+",
        "+---[RSA 2048]----+\n"
        "|                 |\n"
        "|   o o . .       |\n"
        "|  o * = +        |\n"
        "| o * = = .       |\n"
        "|  E . = S        |\n"
        "| o o . .         |\n"
        "|  o o .          |\n"
        "|   o o           |\n"
        "|                 |\n"
        "+------[MD5]------+",
        "xosot-ruzoc-mogok-pyfyt-maren-gifig-vukiz-bylig-dinum-parem-dexox",
    },
    {
        "ssh-rsa",
        "AAAAB3NzaC1yc2EAAAADAQABAAABgQCV5baaKV1SBPyfDINBrLydmO4c9OdnctrlcVP/SzxyI+Je"
        "9zME1E0tGTlENEBSwRYtX4cdBiwObKj4DF/v65wjWh4uCjQodn3QKD6XyrBGXBMQ3wQcFt41fM14"
        "5LQr6P8ojudfAwjLbHTtg77WhiZgpyVdIWNNwh6PHToLf8YZfvflBEFtO5DIL8DZvOH7EA1m0RWt"
        "iNxTXDtL0B9jBd5nrHrq/RVdE/MI7SYZVI9kW09zGY2KJFmdCSNwaEQQzz4PGzWroi8GM+ijtjFW"
        "YAkFVigLXmfMk10QUB/kVuxIBf/KrpMrK2912f/vSSxs5C6X68jv8f8nhQTkYRhMr58tmRQh9vxE"
        "HSvS8EL6q3A6KGCtm9KHjtq9WNSbDZ689zpBaxQHdbbsiVJRz/DJAgu095dNXABrJJDw1MNQG6OZ"
        "Kftuqrdg4USDmR5HKH3JGaC1wrL+r30aAnCmCqH5A+9Y2o4j2KKKpnCyzrSWmaHhuykUSkGRAiif"
        "g+mWv+QWyns=",
        3072,
        "SHA256:VQuWjSwr6V6hqSzFtgkWLhVzt5J+QOCyLhdrJjgyT80",
        "MD5:d9:fa:b3:09:b9:71:04:c4:d5:54:77:85:a3:da:2e:b4",
        "+---[RSA 3072]----+\n"
        "|  ..     .o+.    |\n"
        "| .o o . ..+o..   |\n"
        "|. .= o o o. .    |\n"
        "| oo + + o.       |\n"
        "|.o.+ + +S.       |\n"
        "|+ +== = .        |\n"
        "|B+*=E* .         |\n"
        "|oX. = .          |\n"
        "|  ..             |\n"
        "+----[SHA256]-----+",
        "+---[RSA 3072]----+\n"
        "|       ....o....=|\n"
        "|       ..   . o..|\n"
        "|        .    . . |\n"
        "|         +  .    |\n"
        "|        S oo     |\n"
        "|         +o .    |\n"
        "|        =..o     |\n"
        "|         *E..    |\n"
        "|        . ++     |\n"
        "+------[MD5]------+",
        "xihev-bivyh-pezid-nadag-kakup-fizyz-doped-bikab-hefek-nekur-rexux",
    },
    {
        "sk-ssh-ed25519@openssh.com",
        "AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIFThCSMeIoICZeQcpb2Sd6aRU6L/rtOX"
        "qVAZ9GpRvXgDAAAABHNzaDo=",
        256,
        "SHA256:PzRdiRwtRV9ceJ94SRS67bfFdIp+ZZ0U1mxEyZB+MQM",
        "MD5:7a:ec:c3:02:62:b4:cb:3e:1e:a7:ce:1a:37:03:70:69",
        "+[ED25519-SK 256]-+\n"
        "|            .EOOX|\n"
        "|           ..++%B|\n"
        "|            +o*oX|\n"
        "|           . +o*.|\n"
        "|        S o ..+.=|\n"
        "|         o . ..==|\n"
        "|          o . .++|\n"
        "|           o  . +|\n"
        "|            .. . |\n"
        "+----[SHA256]-----+",
        "+[ED25519-SK 256]-+\n"
        "|                 |\n"
        "|   .             |\n"
        "|. E              |\n"
        "|.o.              |\n"
        "|.. .    S        |\n"
        "| .+ .  o         |\n"
        "|.o=o....o        |\n"
        "| ++*  .oo        |\n"
        "|.=*.   ...       |\n"
        "+------[MD5]------+",
        "xezor-rulyb-hobon-loluh-zovyk-fafip-tudih-ciryk-tyzop-mizep-sixix",
    },
    {
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBNAx"
        "4zqfdZQKItsYZyeQ/H/UoB4WW7YwWMFvcvT1DsZicWaagjgN/OtFgv0NFe+bBMyi3uGvATkco54H"
        "446VnEUAAAAEc3NoOg==",
        256,
        "SHA256:FCPcqnsMbh03l8PH9k5+TFgnJ52EgQmAYm9ctA3nG3w",
        "MD5:93:27:45:fb:fe:33:3c:5a:75:89:ab:77:f0:c0:bb:62",
        "+-[ECDSA-SK 256]--+\n"
        "|     .+=+o. o.o  |\n"
        "|   o ..oOo o . . |\n"
        "|  . + .o.= E  ...|\n"
        "|     +..  +   o.=|\n"
        "|    ..  So o   *.|\n"
        "|    o . o = + . .|\n"
        "|   . = o o + ..o |\n"
        "|    + +      o. o|\n"
        "|   . .       .o. |\n"
        "+----[SHA256]-----+",
        "+-[ECDSA-SK 256]--+\n"
        "|          .      |\n"
        "|         . .     |\n"
        "|          o      |\n"
        "|         o .  . .|\n"
        "|        S . o. .o|\n"
        "|         + . +...|\n"
        "|            .o*  |\n"
        "|           E.==o |\n"
        "|          ..+o++ |\n"
        "+------[MD5]------+",
        "xozif-gehul-sinop-zytiz-solan-hyfus-tibet-kabol-felot-kivyt-syxax",
    },
};
// clang-format on

Bytes blob_of(const Golden& g) {
  auto blob = base64_decode(g.base64_blob);
  EXPECT_TRUE(blob.ok()) << g.ssh_name;
  return blob.ok() ? *blob : Bytes{};
}

TEST(FingerprintHashName, AcceptsMd5AndSha256InAnyCase) {
  for (const char* name : {"sha256", "SHA256", "Sha256"}) {
    auto h = parse_fingerprint_hash(name);
    ASSERT_TRUE(h.ok()) << name;
    EXPECT_EQ(*h, FingerprintHash::kSha256);
  }
  for (const char* name : {"md5", "MD5", "mD5"}) {
    auto h = parse_fingerprint_hash(name);
    ASSERT_TRUE(h.ok()) << name;
    EXPECT_EQ(*h, FingerprintHash::kMd5);
  }
}

TEST(FingerprintHashName, RejectsOtherNames) {
  for (const char* name : {"", "sha1", "sha512", "sha-256", "sha256 ", "md"}) {
    auto h = parse_fingerprint_hash(name);
    ASSERT_FALSE(h.ok()) << name;
    EXPECT_EQ(h.error().code(), Errc::kInvalidArgument);
    EXPECT_NE(h.error().message().find("md5 or sha256"), std::string::npos);
  }
}

// Digests of the empty string: the formatting alone, independent of key parsing.
TEST(FingerprintBlob, EmptyInput) {
  EXPECT_EQ(fingerprint({}, FingerprintHash::kSha256),
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
  EXPECT_EQ(fingerprint({}, FingerprintHash::kMd5),
            "MD5:d4:1d:8c:d9:8f:00:b2:04:e9:80:09:98:ec:f8:42:7e");
}

// "abc": SHA-256 ends in one byte of padding; MD5 has leading-zero-free and
// zero-containing pairs.
TEST(FingerprintBlob, Abc) {
  EXPECT_EQ(fingerprint(as_bytes("abc"), FingerprintHash::kSha256),
            "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0");
  EXPECT_EQ(fingerprint(as_bytes("abc"), FingerprintHash::kMd5),
            "MD5:90:01:50:98:3c:d2:4f:b0:d6:96:3f:7d:28:e1:7f:72");
}

TEST(FingerprintBlob, MatchesSshKeygenOnRawBlobs) {
  for (const Golden& g : kGolden) {
    SCOPED_TRACE(g.ssh_name);
    const Bytes blob = blob_of(g);
    EXPECT_EQ(fingerprint(blob, FingerprintHash::kSha256), g.sha256);
    EXPECT_EQ(fingerprint(blob, FingerprintHash::kMd5), g.md5);
  }
}

TEST(FingerprintKey, MatchesSshKeygen) {
  for (const Golden& g : kGolden) {
    SCOPED_TRACE(g.ssh_name);
    auto key = PublicKey::from_blob(blob_of(g));
    ASSERT_TRUE(key.ok()) << key.error().message();
    EXPECT_EQ(key->ssh_name(), g.ssh_name);
    EXPECT_EQ(key->bits(), g.bits);
    EXPECT_EQ(fingerprint(*key, FingerprintHash::kSha256), g.sha256);
    EXPECT_EQ(fingerprint(*key, FingerprintHash::kMd5), g.md5);
  }
}

TEST(FingerprintRandomart, MatchesSshKeygen) {
  for (const Golden& g : kGolden) {
    SCOPED_TRACE(g.ssh_name);
    auto key = PublicKey::from_blob(blob_of(g));
    ASSERT_TRUE(key.ok()) << key.error().message();
    EXPECT_EQ(randomart(*key, FingerprintHash::kSha256), g.randomart_sha256);
    EXPECT_EQ(randomart(*key, FingerprintHash::kMd5), g.randomart_md5);
  }
}

TEST(FingerprintRandomart, Shape) {
  auto key = PublicKey::from_blob(blob_of(kGolden[0]));
  ASSERT_TRUE(key.ok()) << key.error().message();
  const std::string art = randomart(*key, FingerprintHash::kSha256);
  ASSERT_FALSE(art.empty());
  EXPECT_NE(art.back(), '\n');
  std::vector<std::string> lines;
  std::istringstream in(art);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 11u);
  std::string field;
  for (size_t i = 0; i < lines.size(); ++i) {
    ASSERT_EQ(lines[i].size(), 19u) << "line " << i;
    const char edge = (i == 0 || i + 1 == lines.size()) ? '+' : '|';
    EXPECT_EQ(lines[i].front(), edge);
    EXPECT_EQ(lines[i].back(), edge);
    if (edge == '|') field += lines[i].substr(1, 17);
  }
  // Start and end marks appear once each (this key's walk does not end where it began).
  EXPECT_EQ(std::count(field.begin(), field.end(), 'S'), 1);
  EXPECT_EQ(std::count(field.begin(), field.end(), 'E'), 1);
  EXPECT_EQ(field[4 * 17 + 8], 'S');
}

TEST(FingerprintBubblebabble, MatchesSshKeygen) {
  for (const Golden& g : kGolden) {
    SCOPED_TRACE(g.ssh_name);
    auto key = PublicKey::from_blob(blob_of(g));
    ASSERT_TRUE(key.ok()) << key.error().message();
    EXPECT_EQ(bubblebabble(*key), g.bubblebabble);
  }
}

}  // namespace
}  // namespace tessera::key
